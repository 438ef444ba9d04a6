// A task that logs through the OpenTelemetry JavaScript SDK only (from npm):
//
//   node produce.mjs http|proto|grpc ENDPOINT TASK_RUN_ID LINES OUT.json
//
// @opentelemetry/sdk-logs with a BatchLogRecordProcessor into the stock exporter
// (exporter-logs-otlp-http: OTLP/JSON over HTTP; -proto: protobuf over HTTP; -grpc), plus
// an in-memory copy of every record as the SDK exported it, written to OUT.json for
// tests/interop/test_js_sdk.py to compare with what tasklogs stored.
import { writeFileSync } from "node:fs";

import { context, SeverityNumber, trace, TraceFlags } from "@opentelemetry/api";
import { OTLPLogExporter as GrpcExporter } from "@opentelemetry/exporter-logs-otlp-grpc";
import { OTLPLogExporter as HttpJsonExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as HttpProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchLogRecordProcessor,
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
} from "@opentelemetry/sdk-logs";

const [kind, endpoint, taskRunId, lines, out] = process.argv.slice(2);

function exporter() {
  if (kind === "grpc") return new GrpcExporter({ url: endpoint });
  if (kind === "proto") return new HttpProtoExporter({ url: `${endpoint}/v1/logs` });
  return new HttpJsonExporter({ url: `${endpoint}/v1/logs` });
}

const ns = (hr) => (hr ? (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString() : null);

function dump(r) {
  const scope = r.instrumentationScope;
  const span = r.spanContext;
  return {
    time_ns: ns(r.hrTime),
    observed_ns: ns(r.hrTimeObserved),
    severity_text: r.severityText ?? "",
    severity_number: r.severityNumber ?? 0,
    body: r.body ?? null,
    attributes: r.attributes,
    trace_id: span ? span.traceId : "",
    span_id: span ? span.spanId : "",
    trace_flags: span ? span.traceFlags : 0,
    event_name: r.eventName ?? "",
    resource: r.resource.attributes,
    resource_schema_url: r.resource.schemaUrl ?? "",
    scope_name: scope.name,
    scope_version: scope.version ?? "",
    scope_attributes: scope.attributes ?? {},
    scope_schema_url: scope.schemaUrl ?? "",
    dropped_attributes_count: r.droppedAttributesCount,
  };
}

const memory = new InMemoryLogRecordExporter();
const provider = new LoggerProvider({
  resource: resourceFromAttributes(
    {
      "service.name": "stock-js",
      "cicd.pipeline.task.run.id": taskRunId,
      "cicd.pipeline.run.id": "js-run",
      "cicd.pipeline.task.name": `js-${kind}`,
    },
    { schemaUrl: "https://opentelemetry.io/schemas/1.26.0" },
  ),
  processors: [
    new BatchLogRecordProcessor({ exporter: exporter(), scheduledDelayMillis: 50 }),
    new SimpleLogRecordProcessor({ exporter: memory }),
  ],
});

const logger = provider.getLogger("interop.js", "3.1.0", {
  schemaUrl: "https://opentelemetry.io/schemas/1.27.0",
  attributes: { "scope.attr": "yes" },
});
for (let i = 0; i < Number(lines); i++) {
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: "INFO",
    body: `line ${i} of ${taskRunId}`,
    attributes: { i, ratio: i / 4 + 0.125, odd: i % 2 === 1 },
  });
}
logger.emit({
  severityNumber: SeverityNumber.WARN,
  severityText: "WARN",
  body: "ünïcode ✓ and\nan embedded newline",
});
const spanCtx = {
  traceId: "5b8efff798038103d269b633813fc60c",
  spanId: "eee19b7ec3c1b174",
  traceFlags: TraceFlags.SAMPLED,
};
logger.emit({
  severityNumber: SeverityNumber.ERROR,
  severityText: "ERROR",
  body: "inside a span",
  attributes: { tags: ["a", "b"] },
  context: trace.setSpanContext(context.active(), spanCtx),
});
logger.emit({
  severityNumber: SeverityNumber.INFO2,
  severityText: "INFO2",
  eventName: "interop.event",
  body: { msg: "a map body", n: 3 },
  attributes: { k: "v" },
});

await provider.forceFlush(); // every record exported (the in-memory copy empties on shutdown)
writeFileSync(out, JSON.stringify(memory.getFinishedLogRecords().map(dump)));
await provider.shutdown();
