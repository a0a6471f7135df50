// Composes subgraphs with Apollo's own composition, for the cross-check tests.
// stdin: {"subgraphs": [{"name", "url", "sdl"}]}; stdout: {"supergraphSdl"} or {"errors": [{code, message}]}
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const services = input.subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) }));
const result = composeServices(services);
if (result.errors) {
  process.stdout.write(JSON.stringify({ errors: result.errors.map((e) => ({ code: e.extensions?.code ?? null, message: e.message })) }));
} else {
  process.stdout.write(JSON.stringify({ supergraphSdl: result.supergraphSdl, hints: (result.hints ?? []).map((h) => ({ code: h.definition.code, message: h.message })) }));
}
