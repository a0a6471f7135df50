// Composes the benchmark subgraphs into one supergraph with Apollo's composition, so every
// gateway under test serves the very same supergraph SDL file.
// usage: node compose.mjs OUT_FILE name=url [name=url ...]   (SDL read from schemas/<name>.graphql)
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [out, ...pairs] = process.argv.slice(2);
if (!out || pairs.length === 0) {
  process.stderr.write("usage: node compose.mjs OUT_FILE name=url [name=url ...]\n");
  process.exit(2);
}
const services = pairs.map((pair) => {
  const [name, url] = pair.split("=");
  const sdl = readFileSync(join(here, "schemas", `${name}.graphql`), "utf8");
  return { name, url, typeDefs: parse(sdl) };
});
const result = composeServices(services);
if (result.errors) {
  for (const error of result.errors) process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl);
