"""Named errors. The library raises them; the CLI and UI render ``str(err)`` and ``err.hint``."""

from __future__ import annotations

from .formats import file_types


class ChallengeQAError(Exception):
    """Base class: a problem the user can fix. ``hint`` names the next step."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.args[0] if self.args else self.__class__.__name__

    def explain(self) -> str:
        """The message and the next step, as one line (what the CLI and UI show).

        Example:
            >>> IndexNotFoundError("No index in index.").explain()
            'No index in index. Build it with: challenge-qa index'
        """
        return f"{self} {self.hint}".strip()


class InvalidQuestionError(ChallengeQAError, ValueError):
    hint = "Ask a question in words, e.g. 'Who directed The Challenge?'."


class InvalidArgumentError(ChallengeQAError, ValueError):
    pass


class CorpusNotFoundError(ChallengeQAError):
    hint = "Point --corpus (or CHALLENGE_QA_CORPUS) at a folder or file of articles."


class CorpusEmptyError(ChallengeQAError):
    hint = (f"Add {file_types()} articles (PDFs with a text layer) to the corpus folder.")


class IndexNotFoundError(ChallengeQAError):
    hint = "Build it with: challenge-qa index"


class IndexMismatchError(ChallengeQAError):
    hint = "Rebuild it with: challenge-qa index --full"


class IndexCorruptError(ChallengeQAError):
    hint = "Rebuild it with: challenge-qa index --full"


class BuildCancelledError(ChallengeQAError):
    """A build was stopped on request; what it had committed stays, the rest is undone."""

    hint = ("The index answers as before. Remove the file that takes long, or rebuild when "
            "there is time.")


class IndexLockedError(ChallengeQAError):
    hint = "Wait for the running build to finish, then try again."


class ModelLoadError(ChallengeQAError):
    hint = (
        "Check the model name or path (CHALLENGE_QA_MODEL); without internet only the "
        "bundled all-MiniLM-L6-v2 or a local folder can be used."
    )


class EvalInputError(ChallengeQAError):
    hint = "Check the --queries and --qrels files (BEIR format)."


class MissingExtraError(ChallengeQAError):
    """An optional feature whose extra (``pip install 'challenge-qa[...]'``) is missing."""

    hint = "Install the optional dependencies, e.g. pip install 'challenge-qa[ray]'."


class ClusterUnavailableError(ChallengeQAError):
    hint = ("Start the cluster (ray start --head on the head node) and check the address; a "
            "cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
            "(RAY_AUTH_TOKEN or ~/.ray/auth_token). Or leave out the address to build on this "
            "machine.")


class ShardUnavailableError(ChallengeQAError):
    """Part of a sharded archive did not answer in time: no answer is given from the rest."""

    hint = ("Ray restarts a replica that died: try again in a minute. `ray status` and "
            "`serve status` on the cluster show the shards' replicas.")


class IndexChangedError(ChallengeQAError):
    """A shard has moved on to a newer commit of the index than the one being asked; the
    caller reloads the index and asks again."""

    hint = "Ask again: the index was updated while the question was answered."


class AddArticleError(ChallengeQAError):
    """A file or web page was not added; nothing was written to the corpus."""

    hint = "Nothing was added; the corpus is unchanged."


class UploadRefusedError(AddArticleError):
    hint = (f"Add {file_types()} files (text as UTF-8, PDFs with a text layer).")


class FetchError(AddArticleError):
    hint = ("Check the address and that this machine can reach the site; or save the page "
            "and add the file.")


class BlockedAddressError(AddArticleError):
    """An address (given, redirected to, or resolved) this machine must not fetch."""

    hint = ("Only public web addresses are fetched. For a page on an intranet or this "
            "machine, set CHALLENGE_QA_ALLOW_PRIVATE_URLS=1 (Settings.allow_private_urls), or "
            "save the page and add the file.")


class NotAnArticleError(AddArticleError):
    hint = ("Give the address of one article's page (not a home or section page), or save "
            "the article's text as a .txt file and add that.")
