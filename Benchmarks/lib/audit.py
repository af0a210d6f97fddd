"""Case: what the audit log costs. The same stream through portcullisd with `audit_log: off` and
with `audit_log: <file>` (ratio on/off; the target is within 5%), and the records per second that
PortcullisAudit's writer thread sustains on its own (Benchmarks/audit-bench)."""

import json
import os
import statistics
import subprocess
import sys

import throughput
from results import Result, interleave

KIND = "L-tcp"
CIPHER = "aes128-gcm@openssh.com"


def run(ctx):
    off, on = ctx.server("portcullis"), ctx.server("portcullis-audit")
    kind = next(k for k in throughput.KINDS if k.name == KIND)
    results = []
    for direction in throughput.DIRECTIONS:
        case = "%s %s %s" % (kind.label, direction, throughput.CIPHER_LABELS[CIPHER])
        print("audit on/off: %s (%d MiB x %d)" % (case, ctx.nbytes // throughput.MiB, ctx.repetitions),
              file=sys.stderr)
        result = Result("audit", case, "MiB/s", "audit on", "audit off",
                        kind=KIND, direction=direction, cipher=CIPHER, bytes=ctx.nbytes)
        interleave(result, on, off,
                   lambda server: throughput.measure(ctx, server, kind, direction, CIPHER, ctx.nbytes),
                   ctx.repetitions, progress=ctx.progress)
        results.append(result)
    records = on.audit_records()
    for result in results:
        result.extra["audit_records"] = records
        if not records:
            result.notes.append("the daemon wrote no audit records: audit logging not wired in yet?")
    results.append(writer_rate(ctx))
    return results


def writer_rate(ctx):
    """Records/s of AuditWriter appending to a file in the run directory (median of the repetitions)."""
    print("audit writer: %d records x %d" % (ctx.audit_records, ctx.repetitions), file=sys.stderr)
    result = Result("audit writer", "AuditTrail (writer thread) append", "records/s", "Portcullis", records=ctx.audit_records)
    for rep in range(ctx.repetitions):
        path = os.path.join(ctx.run_dir, "audit-bench-%d.jsonl" % rep)
        out = subprocess.run([ctx.audit_bench, "--records", str(ctx.audit_records), "--path", path],
                             capture_output=True, text=True)
        try:
            report = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            result.error = "audit-bench: exit status %d: %s%s" % (out.returncode, out.stdout, out.stderr)
            return result
        if report.get("records") != ctx.audit_records or report.get("lines") != ctx.audit_records:
            result.error = "audit-bench: wrote %s" % report
            return result
        result.a.append(report["records_per_second"])
        result.extra["bytes_per_record"] = report["bytes"] / report["records"]
        os.unlink(path)
        print("  %.0f records/s" % result.a[-1], file=sys.stderr)
    result.extra["median"] = statistics.median(result.a)
    return result
