// Composes subgraphs with Apollo's own composition, for the cross-check tests.
// stdin:  {"subgraphs": [{"name", "url", "sdl"}]}
// stdout: {"supergraphSdl", "hints": [{code, message}]} or {"errors": [{code, message}]}
// Batch:  stdin {"cases": {id: {"subgraphs": [...]}}} gives {id: result} in one process.
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";
import { readFileSync } from "node:fs";

function composeOne(input) {
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
    return { errors: parseErrors };
  }
  const result = composeServices(services);
  if (result.errors) {
    return {
      errors: result.errors.map((e) => ({ code: e.extensions?.code ?? null, message: e.message })),
    };
  }
  const hints = (result.hints ?? []).map((h) => ({ code: h.definition.code, message: h.message }));
  return { supergraphSdl: result.supergraphSdl, hints };
}

const input = JSON.parse(readFileSync(0, "utf8"));
if (input.cases) {
  const results = {};
  for (const [id, one] of Object.entries(input.cases)) {
    results[id] = composeOne(one);
  }
  process.stdout.write(JSON.stringify(results));
} else {
  process.stdout.write(JSON.stringify(composeOne(input)));
}
