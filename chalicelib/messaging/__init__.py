"""Texting a link through the Vonage Messages API: orders, quota, opt-outs, the
message attribute of a link, and Vonage's signed delivery receipts and inbound texts."""
