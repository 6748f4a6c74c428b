// Serves a built explorer folder over HTTP on 127.0.0.1 (any static host would do; this one needs no install).
import { createReadStream, type Stats, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  // WebAssembly.instantiateStreaming insists on this type.
  ".wasm": "application/wasm",
};

/** The file's stats, or null when there is nothing there. */
function statOrNull(path: string): Stats | null {
  return statSync(path, { throwIfNoEntry: false }) ?? null;
}

export interface Served {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1:`port` (0: any free port). Only files inside `dir` are served; GET and HEAD only. */
export function serveStatic(dir: string, port = 0): Promise<Served> {
  const root = normalize(dir);
  const server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    } catch {
      res.writeHead(400).end("bad URL");
      return;
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end("outside the served folder");
      return;
    }
    let st = statOrNull(file);
    if (st?.isDirectory()) {
      file = join(file, "index.html");
      st = statOrNull(file);
    }
    if (!st?.isFile()) {
      res.writeHead(404, { "Content-Type": TYPES[".txt"] }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, {
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Content-Length": st.size,
      "Cache-Control": "no-cache",
    });
    if (req.method === "HEAD") res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new Error(
              `port ${port} on 127.0.0.1 is in use; choose another with --port N (or 0 for any free port)`,
            )
          : e,
      ),
    );
    server.listen(port, "127.0.0.1", () => {
      const addr = server.address();
      const actual = typeof addr === "object" && addr ? addr.port : port;
      resolve({
        url: `http://127.0.0.1:${actual}/`,
        server,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
