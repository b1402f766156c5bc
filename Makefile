# Two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench bench-smoke chromium nginx fonts clean screenshot

run: $(VENV)/.installed
	$(BIN)/barrage serve --config $${BARRAGE_CONFIG:-config.toml}

# Three workers on two cores: most tests wait on sockets, browsers and databases. Every test
# is independent of the others' order and process (its own database, ports, bus channel).
TEST_WORKERS ?= 3

test: $(VENV)/.installed-test chromium fonts nginx node_modules/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check server bot tests bench docs

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "barrage needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright cannot download its own here).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "Please install Chromium at $(CHROMIUM) (Debian: sudo apt-get install chromium)"; exit 1; \
		fi; \
	fi

# nginx: the deploy/ tests run deploy/nginx/barrage.conf in front of several nodes.
nginx:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-core; \
		else \
			echo "Please install nginx (Debian: sudo apt-get install nginx)"; exit 1; \
		fi; \
	fi

# CJK and colour emoji glyphs for Chromium: the screenshot shows comments in Chinese, Japanese,
# Korean and emoji (without these fonts Chromium draws empty boxes).
fonts:
	@if [ ! -d /usr/share/fonts/opentype/noto ] || [ ! -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				fonts-noto-cjk fonts-noto-color-emoji; \
		else \
			echo "Please install fonts-noto-cjk and fonts-noto-color-emoji (Debian: sudo apt-get install ...)"; exit 1; \
		fi; \
	fi

# axe-core for the accessibility checks in tests/browser, pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; \
		else \
			echo "Please install npm (Debian: sudo apt-get install npm)"; exit 1; \
		fi; \
	}
	npm ci --no-audit --no-fund --silent
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache node_modules

screenshot: $(VENV)/.installed-test chromium fonts
	$(BIN)/python docs/screenshot.py $(CHROMIUM)
	$(BIN)/python -m docs.screenshot_zh $(CHROMIUM)

# Benchmarks: outside the test suite; loopback only, bounded in count and time.
bench: $(VENV)/.installed-test chromium
	$(BIN)/python -m bench.run

bench-smoke: $(VENV)/.installed-test
	$(BIN)/python -m bench.run --smoke
