// Copies Swagger UI's own files (npm swagger-ui-dist) into dist/swagger/, so the command API's
// /docs page loads them from the service instead of a CDN (an air-gapped ground network has none).
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const source = dirname(require.resolve("swagger-ui-dist/package.json"));
const target = join(process.env.MPCS_CONSOLE_OUT ?? join(here, "..", "dist"), "swagger");
const files = ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"];

mkdirSync(target, { recursive: true });
for (const file of files) {
  const from = join(source, file);
  if (!existsSync(from)) {
    throw new Error(`swagger-ui-dist has no ${file} (looked in ${source})`);
  }
  copyFileSync(from, join(target, file));
}
console.log(`copied ${files.length} Swagger UI files to ${target}`);
