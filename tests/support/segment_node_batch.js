// Sends COUNT track calls with @segment/analytics-node (from node_modules) to linktrail:
// node segment_node_batch.js <host> <writeKey> <messageIdPrefix> <count>
// Prints {"flushed": n, "errors": [...]} once the library has delivered (or given up).
const { Analytics } = require('@segment/analytics-node')

async function main () {
  const [host, writeKey, prefix, count] = process.argv.slice(2)
  const analytics = new Analytics({ writeKey, host, flushAt: 100, maxRetries: 2 })
  const errors = []
  analytics.on('error', (error) => errors.push(String(error && (error.reason || error))))
  for (let i = 0; i < Number(count); i++) {
    analytics.track({
      messageId: `${prefix}${i}`,
      anonymousId: `${prefix}visitor`,
      event: 'Item Viewed',
      properties: { index: i },
      context: { ip: '198.51.100.7', app: { name: 'node-shop' } }
    })
  }
  await analytics.closeAndFlush({ timeout: 60000 })
  process.stdout.write(JSON.stringify({ flushed: Number(count), errors }) + '\n')
}

main().catch((error) => { console.error(error); process.exit(1) })
