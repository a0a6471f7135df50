// Runs graphql-http's GraphQL-over-HTTP server audits against a live server and prints
// one JSON array of {id, name, status, reason} on stdout. Usage: node audit.mjs URL
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs http://host:port/graphql");
  process.exit(2);
}
const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    entry.reason = result.reason;
  }
  results.push(entry);
}
process.stdout.write(JSON.stringify(results));
