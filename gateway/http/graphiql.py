"""The GraphiQL page served on ``GET /graphql`` when a browser asks for HTML.

The page loads GraphiQL from a CDN in the browser; the gateway ships no assets.
Subscriptions run over the same path with graphql-transport-ws.
"""

from __future__ import annotations

import html

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3.8.3/graphiql.min.css">
<style>body{margin:0;height:100vh}#graphiql{height:100vh}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script crossorigin src="https://unpkg.com/react@18.3.1/umd/react.production.min.js"></script>
<script crossorigin src="https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphql-ws@5.16.0/umd/graphql-ws.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3.8.3/graphiql.min.js"></script>
<script>
  const url = new URL(__PATH__, window.location.href);
  const wsUrl = url.href.replace(/^http/, "ws");
  const fetcher = GraphiQL.createFetcher({
    url: url.href,
    subscriptionUrl: wsUrl,
    wsClient: graphqlWs.createClient({
      url: wsUrl,
      // The headers GraphiQL persisted (Authorization…) become connection_init's payload.
      connectionParams: () => {
        try { return JSON.parse(localStorage.getItem("graphiql:headers") || "{}"); }
        catch (e) { return {}; }
      },
    }),
  });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultHeaders: '{"Authorization": "Bearer <token from: threadline token --scope ...>"}',
      shouldPersistHeaders: true,
    }),
  );
</script>
</body>
</html>
"""


def graphiql_page(path: str, title: str = "Threadline GraphiQL") -> str:
    return _PAGE.replace("__TITLE__", html.escape(title)).replace(
        "__PATH__", '"' + html.escape(path, quote=True) + '"'
    )
