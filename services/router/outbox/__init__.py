"""The outbox: dispatching queued outbound rows, recording send results, delivery receipts."""
