#!/usr/bin/env bash
# The Python tools the tests use, in a project-local virtual environment (.venv, ignored by git),
# never installed system-wide (CONTRACT §1). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x .venv/bin/pip ]; then
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/openapi-spec-validator ]; then
  echo "test-tools: installing openapi-spec-validator into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "openapi-spec-validator==0.9.0"
fi
# selenium drives Debian's chromium through chromium-driver, both named by path: nothing is downloaded.
if ! .venv/bin/python -c 'import selenium' 2>/dev/null; then
  echo "test-tools: installing selenium into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "selenium==4.38.0"
fi
# selenium-axe-python bundles axe-core, the accessibility audit of the browser scenarios.
if ! .venv/bin/python -c 'import selenium_axe_python' 2>/dev/null; then
  echo "test-tools: installing selenium-axe-python into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "selenium-axe-python==2.2.0"
fi
# kubernetes-validate carries the Kubernetes schemas in the package, so deploy/k8s/check.sh works offline.
if [ ! -x .venv/bin/kubernetes-validate ]; then
  echo "test-tools: installing kubernetes-validate into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi
# The fuzzers of Tests/Fuzz: schemathesis drives the HTTP API from its OpenAPI document, pyzmq
# speaks the wire protocol (its wheel carries its own libzmq).
if ! .venv/bin/python -c 'import schemathesis' 2>/dev/null; then
  echo "test-tools: installing schemathesis into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
if ! .venv/bin/python -c 'import zmq' 2>/dev/null; then
  echo "test-tools: installing pyzmq into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "pyzmq==27.3.0"
fi
