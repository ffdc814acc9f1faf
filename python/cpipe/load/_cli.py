"""cpipe-load: the command line (arguments, the run, the summary, exit codes)."""
from __future__ import annotations

import argparse
import sys
import time
import zlib
from typing import Any, Optional, Sequence, TextIO

import redis

from ._inputs import FORMATS, Input, InputError, csv_header, csv_rows, jsonl_rows
from ._progress import make_progress
from ._resp import RespChunks, RespError
from ._run import Reporter, RespLoader, RowLoader, Stats, Stop
from ._sink import LoadConnectionError, LoadDataError, open_sink
from ._templates import TemplateError, compile_builder, make_spec

EXIT_OK = 0
EXIT_ERRORS = 1  # finished, but rows or commands failed (--on-error skip|log)
EXIT_USAGE = 2  # bad arguments or template, unreadable file: nothing was sent
EXIT_STOPPED = 3  # stopped at the first error (--on-error stop, or input that cannot be read on)
EXIT_CONNECTION = 4  # could not connect, or the connection was lost: see the resume point
EXIT_INTERRUPTED = 130  # Ctrl-C: what was sent was flushed; see the resume point

EPILOG = """\
examples:
  cpipe-load users.csv --hset 'user:{id}'
  cpipe-load users.csv --command 'HSET user:{id} name {name} age {age}' --expire 3600
  cpipe-load events.jsonl.gz --set 'event:{id}' payload --url redis://localhost:6380/2
  cpipe-load dump.resp                      # what `redis-cli --pipe < dump.resp` sends
  zcat users.csv.gz | cpipe-load - --format csv --hset 'user:{id}' --dry-run

input: CSV with a header line, JSON Lines (one object per line), or raw RESP
  (redis-cli --pipe's input). The format comes from the extension (.csv,
  .jsonl/.ndjson/.json, .resp, each optionally .gz), else --format, else the
  first byte ('*' RESP, '{' JSON Lines, otherwise CSV). Gzip is recognised by
  its magic bytes, whatever the name. CSV and JSON Lines must be UTF-8.
  JSON values: strings as they are, numbers and true/false as their JSON text,
  objects and arrays as compact JSON; null counts as absent.
  RESP input may hold inline commands (`SET k v` on a line), as the server
  reads them: one command per non-blank line (blank lines and `*0` are none).
  Without --limit the engine counts RESP commands as it sends them.

templates: the template is split into words first (shell quoting), then
  {column} is replaced in each word, so a value with spaces stays one
  argument. {{ and }} are literal braces. --expire adds EXPIRE <key> SECONDS
  after each row's command, the key being the command's second word.

errors (--on-error): a malformed row (a missing column, bad CSV or JSON) or an
  error reply. stop (default): send what was read before it, wait for the
  replies, report it with its line number, exit 3. skip: count it and go on
  (the summary shows the first). log: print each one and go on. Bad RESP
  framing always stops: the stream cannot be resynchronised.

resume: if the connection is lost, everything sent and acknowledged is
  counted and the message says `resume with --skip N`: N counts input rows
  (commands for RESP) from the start of the file, so run the same command
  with --skip N. The commands of the row in flight may run twice
  (harmless for SET/HSET/EXPIRE, not for INCR or RPUSH).

exit codes:
  0 everything loaded      1 finished with errors (skip|log)
  2 usage error, nothing sent   3 stopped at an error
  4 connection failed or lost (resume point printed)   130 interrupted
"""


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="cpipe-load", description="Load a CSV, JSON Lines or RESP file into Redis, fast.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="input file, or - for stdin (gzip is detected)")
    what = ap.add_argument_group("commands from rows (CSV, JSON Lines; give one)")
    what.add_argument("--command", "-c", metavar="TEMPLATE",
                      help="a command per row, e.g. 'HSET user:{id} name {name} age {age}'")
    what.add_argument("--set", nargs=2, metavar=("KEY", "COLUMN"),
                      help="SET KEY (a template, e.g. 'user:{id}') to COLUMN's value")
    what.add_argument("--hset", metavar="KEY", help="HSET KEY with every other column as a field")
    what.add_argument("--expire", type=int, metavar="SECONDS", help="EXPIRE each key after its command")
    ap.add_argument("--format", "-f", choices=FORMATS, help="input format (default: from the name or content)")
    ap.add_argument("--url", "-u", default="redis://localhost:6379",
                    help="server URL: redis://[[user]:password@]host[:port][/db] or unix://path "
                         "(default redis://localhost:6379)")
    ap.add_argument("--batch", type=int, default=1000, metavar="N",
                    help="commands per batch sent to the engine (default 1000)")
    ap.add_argument("--skip", type=int, default=0, metavar="N",
                    help="skip the first N rows (commands for RESP): the resume point after a failure")
    ap.add_argument("--limit", type=int, metavar="N", help="load at most N rows (commands for RESP) after --skip")
    ap.add_argument("--dry-run", nargs="?", type=int, const=10, metavar="N",
                    help="send nothing: print the first N commands (10) and check the whole input")
    ap.add_argument("--on-error", choices=("stop", "skip", "log"), default="stop",
                    help="on a malformed row or an error reply: stop (default), skip, or log and go on")
    ap.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                    help="auto (default): a bar on a terminal, a line every --progress-interval otherwise")
    ap.add_argument("--progress-interval", type=float, default=10.0, metavar="SECONDS",
                    help="seconds between progress lines when stderr is not a terminal (10)")
    ap.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                    help="socket timeout for connecting and for each reply (60)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary (errors still)")
    args = ap.parse_args(argv)
    if args.batch < 1:
        ap.error("--batch must be >= 1")
    if args.skip < 0:
        ap.error("--skip must be >= 0")
    if args.limit is not None and args.limit < 0:
        ap.error("--limit must be >= 0")
    if args.dry_run is not None and args.dry_run < 0:
        ap.error("--dry-run N must be >= 0")
    if args.expire is not None and args.expire <= 0:
        ap.error("--expire must be > 0")
    if args.quiet:
        args.progress = "none"
    return args


def summary(st: Stats, sink: Any, dry: bool) -> str:
    seconds = max(time.monotonic() - st.t0, 1e-9)
    unit = st.unit
    parts = [f"{st.rows:,} {unit}" + (f" (after skipping {st.skipped:,})" if st.skipped else "")]
    if unit == "rows":
        parts.append(f"{st.bad_rows:,} malformed")
    if dry:
        parts.append(f"{st.commands:,} commands built, none sent (dry run)")
    else:
        sent = sink.sent if sink else 0
        acked = sink.acknowledged if sink else 0
        parts.append(f"{sent:,} commands sent, {acked:,} acknowledged")
        parts.append(f"{st.error_replies:,} error replies")
    done = sink.acknowledged if sink and not dry else st.commands
    rate = f"{st.rows / seconds:,.0f} {unit}/s" + (f", {done / seconds:,.0f} commands/s" if unit == "rows" else "")
    text = f"cpipe-load: {', '.join(parts)} in {seconds:.2f} s ({rate})"
    if st.first_error and (st.bad_rows + st.error_replies) > 0:
        text += f"\ncpipe-load: first error: {st.first_error}"
    return text


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = parse_args(argv)
    try:
        inp = Input(args.file)
    except InputError as e:
        print(f"cpipe-load: {e}", file=err)
        return EXIT_USAGE
    try:
        return _run(args, inp, out, err)
    finally:
        inp.close()


def _run(args: argparse.Namespace, inp: Input, out: TextIO, err: TextIO) -> int:
    dry = args.dry_run is not None
    try:
        fmt = inp.detect_format(args.format)
        if fmt == "resp":
            if args.command or args.set or args.hset or args.expire:
                raise TemplateError("RESP input is sent as it is: --command/--set/--hset/--expire do not apply")
            spec = header = reader = None
        else:
            spec = make_spec(args.command, args.set, args.hset, args.expire)
            header, reader = csv_header(inp) if fmt == "csv" else (None, None)
            compile_builder(spec, header, None)  # a column missing from the header fails here
    except (TemplateError, InputError) as e:
        print(f"cpipe-load: {e}", file=err)
        return EXIT_USAGE

    client = sink = None
    if not dry:
        import cpipe

        try:
            client = cpipe.from_url(args.url, socket_timeout=args.timeout, socket_connect_timeout=args.timeout)
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as e:
            print(f"cpipe-load: cannot connect to {args.url}: {e}", file=err)
            return EXIT_CONNECTION
        except (ValueError, redis.RedisError) as e:
            print(f"cpipe-load: --url {args.url}: {e}", file=err)
            return EXIT_USAGE
        sink = open_sink(client, args.batch)

    st = Stats(unit="commands" if fmt == "resp" else "rows")
    reporter = Reporter(args.on_error, st, err)
    progress = make_progress(args.progress, inp.total, args.progress_interval, err)
    code = EXIT_OK
    loader: Any = None
    try:
        if fmt == "resp":
            reopen = None if args.file == "-" else (lambda: Input(args.file))
            loader = RespLoader(sink, st, reporter, progress, inp.position, args.dry_run or 0, out, reopen)
            loader.run(RespChunks(inp.stream, args.skip, args.limit))
        else:
            from .. import _engine

            if sink is None or sink.wants_argv:
                call = None
            else:
                call = sink.add if sink.add is not None else _engine.native().encode
            build = compile_builder(spec, header, call)
            rows = csv_rows(inp.name, header, reader) if fmt == "csv" else jsonl_rows(inp)
            loader = RowLoader(spec, header, build, sink, args.batch, st, reporter, progress, inp.position,
                               args.dry_run or 0, out)
            loader.run(rows, args.skip, args.limit)
        if sink is not None:
            sink.finish()
            loader.check_errors()
    except Stop as e:
        code = _stop(e, sink, loader, st, err, f"stopped at the first error: {e}")
    except RespError as e:
        code = _stop(e, sink, loader, st, err, f"{inp.name}: {e}")
    except InputError as e:
        code = _stop(e, sink, loader, st, err, str(e))
    except (EOFError, OSError, zlib.error) as e:  # a truncated or corrupt gzip stream, a read error
        code = _stop(e, sink, loader, st, err, f"{inp.name}: cannot read on: {e}")
    except LoadConnectionError as e:
        code = EXIT_CONNECTION
        _lost(e, st, err, loader)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        try:
            if sink is not None:
                try:
                    sink.finish()
                except LoadDataError:
                    pass  # RESP chunks are cut anywhere: a command half sent never runs
            st.resume = loader.resume_point(sink.acknowledged) if loader and sink else None
            print(f"cpipe-load: interrupted; resume with --skip {st.resume}" if st.resume is not None
                  else "cpipe-load: interrupted", file=err)
        except LoadConnectionError as e2:
            _lost(e2, st, err, loader)
    finally:
        progress.close()
        if sink is not None:
            sink.close()
        if client is not None:
            client.close()
    if sink is not None:  # error replies past those itemised are counted too
        st.error_replies = max(st.error_replies, sink.error_count)
    if code == EXIT_OK and (st.bad_rows or st.error_replies):
        code = EXIT_ERRORS
    if not args.quiet:
        print(summary(st, sink, dry), file=err)
    return code


def _stop(e: BaseException, sink: Any, loader: Any, st: Stats, err: TextIO, message: str) -> int:
    """Flush what was sent before the error, then report it."""
    print(f"cpipe-load: {message}", file=err)
    if sink is not None:
        try:
            sink.finish()
            if loader is not None:
                try:
                    loader.check_errors()
                except Stop:
                    pass
        except LoadConnectionError as e2:
            _lost(e2, st, err, loader)
            return EXIT_CONNECTION
        except LoadDataError:
            pass  # raw input refused mid-command: the complete commands were answered; reported above
    return EXIT_STOPPED


def _lost(e: LoadConnectionError, st: Stats, err: TextIO, loader: Any) -> None:
    if st.resume is None and loader is not None:
        st.resume = loader.resume_point(e.acknowledged)
    where = f"; resume with --skip {st.resume}" if st.resume is not None else ""
    print(f"cpipe-load: connection lost after {e.acknowledged:,} acknowledged commands: {e}{where}", file=err)
