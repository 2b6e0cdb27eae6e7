"""Text as the index sees it: sentences, passage windows, words for BM25, dates, word lists."""
