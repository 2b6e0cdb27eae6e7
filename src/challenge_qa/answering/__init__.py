"""From hits to answers: sentences and short answers, conversations, dates, timelines."""
