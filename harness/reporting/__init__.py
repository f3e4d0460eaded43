"""What a run leaves for people: the report, the timeline page, the evidence folder, the console."""
