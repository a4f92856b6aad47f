#!/usr/bin/env node
// Entry point for the `vellum` command; the compiled CLI lives in dist/.
import '../dist/cli/main.js';
