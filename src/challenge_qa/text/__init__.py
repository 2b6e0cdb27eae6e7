"""Text as the index sees it: sentences and passages, words for BM25, dates, word lists."""
