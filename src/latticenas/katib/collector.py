"""``spec.metricsCollectorSpec``: the webhook's rules per collector kind (``validator.go``
``validateMetricsCollector``, after the defaults of ``experiment_defaults.go``), and the
filters as the collector uses them (:mod:`latticenas.katib.rules.filters`).

A filter that cannot read this project's own trial output (``name=value`` lines, see
:mod:`latticenas.metrics`) is a warning: Katib admits it, and other trials print other formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from latticenas.katib.issues import Collector, closest, join_path, mapping, sequence
from latticenas.katib.rules import filters, names
from latticenas.katib.rules.values import parse_int

BASE = "spec.metricsCollectorSpec"
SOURCE = f"{BASE}.source"
_PROBE = 0.125


def check_metrics_collector(spec: Mapping[str, Any], objective_ok: bool, out: Collector) -> None:
    collector_spec = spec.get("metricsCollectorSpec")
    if collector_spec is not None and not isinstance(collector_spec, Mapping):
        out.add(BASE, "must be a mapping; set collector.kind (e.g. StdOut)")
        return
    collector_spec = mapping(collector_spec)
    kind = mapping(collector_spec.get("collector")).get("kind") or "StdOut"
    source = mapping(collector_spec.get("source"))
    if kind not in names.COLLECTOR_KINDS:
        out.add(join_path(BASE, "collector.kind"),
                f"{kind!r} is not a metrics collector{closest(kind, names.COLLECTOR_KINDS)}; use "
                f"one of {', '.join(names.COLLECTOR_KINDS)}")
        return
    check = {"File": _check_file, "TensorFlowEvent": _check_tfevent,
             "PrometheusMetric": _check_prometheus, "Custom": _check_custom}.get(kind)
    if check is not None:
        check(collector_spec, source, out)
    compiled = _check_filters(source, out)
    text_format = mapping(source.get("fileSystemPath")).get("format", "TEXT") == "TEXT"
    if objective_ok and kind in ("StdOut", "File") and text_format and compiled:
        _check_reads_project_lines(spec, compiled, out)


def _check_file(collector_spec: Mapping[str, Any], source: Mapping[str, Any], out: Collector) -> None:
    fs, fs_path = mapping(source.get("fileSystemPath")), join_path(SOURCE, "fileSystemPath")
    path = fs.get("path", names.DEFAULT_METRICS_FILE)
    if fs.get("kind", "File") != "File" or not str(path).startswith("/"):
        out.add(join_path(fs_path, "path"), "the File collector needs an absolute file path "
                                            "(fileSystemPath.kind File); set it")
    fmt = fs.get("format", "TEXT")
    if fmt not in ("TEXT", "JSON"):
        out.add(join_path(fs_path, "format"), f"{fmt!r} must be TEXT or JSON; set one")
    if fmt == "JSON" and source.get("filter") is not None:
        out.add(join_path(SOURCE, "filter"), "must be omitted when the metrics file is JSON; remove the filter")


def _check_tfevent(collector_spec: Mapping[str, Any], source: Mapping[str, Any], out: Collector) -> None:
    fs, fs_path = mapping(source.get("fileSystemPath")), join_path(SOURCE, "fileSystemPath")
    path = fs.get("path", names.DEFAULT_TFEVENT_DIR)
    if fs.get("kind", "Directory") != "Directory" or not str(path).startswith("/"):
        out.add(join_path(fs_path, "path"), "the TensorFlowEvent collector needs an absolute "
                                            "directory (fileSystemPath.kind Directory); set it")
    if fs.get("format"):
        out.add(join_path(fs_path, "format"), "must be empty for TensorFlowEvent; remove it")


def _check_prometheus(collector_spec: Mapping[str, Any], source: Mapping[str, Any], out: Collector) -> None:
    http = mapping(source.get("httpGet"))
    port = parse_int(http.get("port", 8080))
    if port is None or port <= 0:
        out.add(join_path(SOURCE, "httpGet.port"), "must be a positive port number; set the metrics port")
    if not str(http.get("path", "/metrics")).startswith("/"):
        out.add(join_path(SOURCE, "httpGet.path"), "must start with '/'; use an absolute URL path like /metrics")


def _check_custom(collector_spec: Mapping[str, Any], source: Mapping[str, Any], out: Collector) -> None:
    if not mapping(collector_spec.get("collector")).get("customCollector"):
        out.add(join_path(BASE, "collector.customCollector"), "is required for a Custom collector; "
                                                              "add the collector container")
    fs = source.get("fileSystemPath")
    if fs is not None:
        fs = mapping(fs)
        if not str(fs.get("path", "")).startswith("/") or fs.get("kind") not in ("File", "Directory"):
            out.add(join_path(SOURCE, "fileSystemPath"),
                    "a Custom collector's fileSystemPath needs an absolute path and kind File or "
                    "Directory (Katib mounts it into the trial pod); set both")


def _check_filters(source: Mapping[str, Any], out: Collector) -> list[filters.Compiled]:
    compiled = []
    for i, fmt in enumerate(sequence(mapping(source.get("filter")).get("metricsFormat"))):
        where, fmt = join_path(SOURCE, "filter.metricsFormat", i), str(fmt)
        if filters.breaks_on_join(fmt):
            out.add(where, "contains ';', and Katib passes the filters to its collector joined "
                           "with ';' and splits them again, so this filter is cut apart and "
                           "reads nothing; write the ';' as \\x3b")
            continue
        try:
            pattern = filters.compile_filter(fmt)
        except filters.FilterError as exc:
            out.add(where, f"invalid filter: {exc}; fix the regular expression (Katib compiles "
                           "it with Go's RE2 syntax)")
            continue
        if not filters.has_two_groups(fmt, pattern):
            out.add(where, "two top subexpressions are required (group 1: metric name, group 2: "
                           "value); add the groups")
            continue
        compiled.append(pattern)
    return compiled


def _check_reads_project_lines(spec: Mapping[str, Any], compiled: list[filters.Compiled],
                               out: Collector) -> None:
    objective = mapping(spec.get("objective"))
    for metric in (objective.get("objectiveMetricName"), *sequence(objective.get("additionalMetricNames"))):
        if not isinstance(metric, str):
            continue
        line = f"{metric}={_PROBE}"
        verdicts = [filters.reads(c, line, metric, _PROBE) for c in compiled]
        if not any(verdicts) and None not in verdicts:
            out.warn(join_path(SOURCE, "filter.metricsFormat"),
                     f"no filter reads the line {line!r} that a latticenas trial prints, so "
                     f"Katib would not see metric {metric!r} from one; make group 1 match the "
                     "name and group 2 the value (other trial programs may print other formats)")
