"""linktrail's Lambda@Edge click function, packaged and deployed on its own.

Nothing here imports chalicelib: the function runs in CloudFront's regions with no
environment variables, its configuration baked into the zip by `python -m edge.build`.
Only the standard library, boto3 (in the Lambda runtime), crawlerdetect (vendored into
the zip at build time) and edge.shared (the app's stand-alone bot classifier and
user-agent families, copied in by the build) are used. See edge/README.md.
"""
