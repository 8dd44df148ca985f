"""Parameter groups, optimizer adapters and learning-rate schedules."""
