"""Publishing (发布): schedule, the durable publication record, its steps, the article."""
