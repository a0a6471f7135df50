// Apollo Gateway (@apollo/gateway on @apollo/server's standalone HTTP server) serving a
// supergraph SDL file, configured as a production deployment would be.
// usage: NODE_ENV=production node apollo.mjs SUPERGRAPH_FILE PORT
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { readFileSync } from "node:fs";

const [file, port] = process.argv.slice(2);
if (!file || !port) {
  process.stderr.write("usage: node apollo.mjs SUPERGRAPH_FILE PORT\n");
  process.exit(2);
}
const gateway = new ApolloGateway({ supergraphSdl: readFileSync(file, "utf8") });
const server = new ApolloServer({ gateway, plugins: [ApolloServerPluginLandingPageDisabled()] });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(port) } });
process.stdout.write(`apollo gateway ready at ${url}\n`);
