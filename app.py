"""Web chat on docs_corpus/ (python app.py); the index is built first if there is none."""
from challenge_qa.app.web import launch

launch()
