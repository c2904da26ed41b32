# Browser client tests, included by the top-level Makefile (`make test` runs them).
#   make test-browser       everything below, in order
#   make test-browser-unit  html/crypto.js against tests/vectors/v1.json and v2.json,
#                           html/replay.js's rules, html/x25519.js against
#                           tests/vectors/x25519.json, html/verifier.js against
#                           tests/vectors/join-v2.json, html/qr.js against reference
#                           matrices, session.js's look-alike rule against
#                           tests/vectors/aliases.json (node only, no browser)
#   make test-browser-e2e   the page's files load promptly from the real server; then
#                           the real server, Chromium pages and `sanctuary join`
#                           clients in shared rooms; look-alike names, remote images
#                           and misrouted whispers (untrusted-peers.test.mjs);
#                           whispers sealed to the recipient alone (whisper.test.mjs);
#                           kicks that re-key the room (rekey.test.mjs);
#                           reconnecting after the network or the server went away
#                           (reconnect.test.mjs); the page
#                           over https and wss behind nginx (tls.test.mjs)
# Needs node >= 20 with npm, Debian's Chromium at /usr/bin/chromium, and nginx and
# openssl for the TLS test (`make setup` installs them). Nothing downloads a browser. Screenshots and timings
# land in target/screenshots/ and target/browser-report.json.
TEST_EXTRA += test-browser

BROWSER_DIR := tests/browser
NODE ?= node
NPM ?= npm

.PHONY: test-browser test-browser-deps test-browser-unit test-browser-e2e

test-browser: test-browser-deps
	$(CARGO) build --release
	$(MAKE) --no-print-directory test-browser-unit
	$(MAKE) --no-print-directory test-browser-e2e

test-browser-deps:
	@$(NODE) -e 'process.exit(parseInt(process.versions.node) < 20 ? 1 : 0)' || { echo "test-browser: node >= 20 is needed (playwright-core and WebSocket); make setup installs it"; exit 1; }
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(NPM) ci --prefix $(BROWSER_DIR) --no-audit --no-fund

test-browser-unit:
	cd $(BROWSER_DIR) && $(NODE) --test --test-reporter=spec crypto-vectors.test.mjs replay.test.mjs x25519-vectors.test.mjs join-v2-vectors.test.mjs qr.test.mjs alias-skeleton.test.mjs

test-browser-e2e:
	@test -x /usr/bin/chromium || { echo "test-browser-e2e: /usr/bin/chromium is missing (make setup installs it)"; exit 1; }
	@test -d $(BROWSER_DIR)/node_modules/playwright-core || { echo "test-browser-e2e: run make test-browser-deps first"; exit 1; }
	@# A child process left running would keep node waiting for ever: bound the whole run.
	cd $(BROWSER_DIR) && timeout --kill-after=10 900 $(NODE) --test --test-concurrency=1 --test-reporter=spec page-load.test.mjs e2e.test.mjs untrusted-peers.test.mjs whisper.test.mjs rekey.test.mjs reconnect.test.mjs tls.test.mjs
