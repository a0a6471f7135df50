// Composes subgraphs with Apollo's own composition, for the cross-check tests.
// stdin:  {"subgraphs": [{"name", "url", "sdl"}]}
// stdout: {"supergraphSdl", "hints": [{code, message}]} or {"errors": [{code, message}]}
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const services = [];
const parseErrors = [];
for (const s of input.subgraphs) {
  try {
    services.push({ name: s.name, url: s.url, typeDefs: parse(s.sdl) });
  } catch (e) {
    parseErrors.push({ code: "INVALID_GRAPHQL", message: `[${s.name}] ${e.message}` });
  }
}
if (parseErrors.length > 0) {
  process.stdout.write(JSON.stringify({ errors: parseErrors }));
} else {
  const result = composeServices(services);
  if (result.errors) {
    const errors = result.errors.map((e) => ({ code: e.extensions?.code ?? null, message: e.message }));
    process.stdout.write(JSON.stringify({ errors }));
  } else {
    const hints = (result.hints ?? []).map((h) => ({ code: h.definition.code, message: h.message }));
    process.stdout.write(JSON.stringify({ supergraphSdl: result.supergraphSdl, hints }));
  }
}
