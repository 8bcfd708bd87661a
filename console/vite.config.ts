// Vite builds the console into dist/ (served by the command API at /); vitest runs the unit tests.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    // The bootstrap's console tool builds into a temporary folder, then moves it to dist/.
    outDir: process.env.MPCS_CONSOLE_OUT ?? "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    css: false,
  },
});
