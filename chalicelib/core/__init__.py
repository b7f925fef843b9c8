"""What every feature stands on: settings, AWS clients, logs, problem details, payload
parsing, time, URL safety, phone numbers and the bot classifier. It imports no feature."""
