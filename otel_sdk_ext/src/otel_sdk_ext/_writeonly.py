"""The answers of a write-only, unseekable stream, shared by the text and bytes tees."""

from __future__ import annotations

import io
from collections.abc import Iterator
from types import TracebackType
from typing import IO, AnyStr, Self

__all__ = ["WriteOnly"]


def _unsupported(what: str) -> io.UnsupportedOperation:
    return io.UnsupportedOperation(f"{what}: the captured stream is write-only")


class WriteOnly(IO[AnyStr]):
    """What a write-only, unseekable stream answers; shared by the text and bytes tees."""

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1, /) -> AnyStr:
        raise _unsupported("read")

    def readline(self, limit: int = -1, /) -> AnyStr:
        raise _unsupported("readline")

    def readlines(self, hint: int = -1, /) -> list[AnyStr]:
        raise _unsupported("readlines")

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise _unsupported("seek")

    def tell(self) -> int:
        raise _unsupported("tell")

    def truncate(self, size: int | None = None, /) -> int:
        raise _unsupported("truncate")

    def __next__(self) -> AnyStr:
        raise _unsupported("iteration")

    def __iter__(self) -> Iterator[AnyStr]:
        raise _unsupported("iteration")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        self.close()
