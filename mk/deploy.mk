# deploy.mk - certificates and deployment: certs, manifests, deploy.
#
#   make certs       a dev CA + serving pair in certs/ for Service bmhguard in bmhguard-system
#                    (CERTS_FORCE=1 replaces an existing pair; CERTS_DAYS=365)
#   make manifests   render the static-caBundle variant from certs/ to $(B)/manifests.yaml
#                    (IMAGE=REGISTRY/bmhguard:TAG, MATCH_CONDITIONS=1 adds the CEL pre-filter,
#                    CA_EXTRA=old-ca.crt also trusts the previous CA while rotating)
#   make deploy      show (APPLY=1: run) the kubectl commands that install it
#   make cel-js      install a CEL evaluator (npm @marcbachmann/cel-js) into $(B)/cel-js so
#                    tests/integration/test_manifests_cel.py can run the match-conditions CEL

CERTS_DIR ?= certs
CERTS_SERVICE ?= bmhguard
CERTS_NAMESPACE ?= bmhguard-system
CERTS_DAYS ?= 365
IMAGE ?=
MATCH_CONDITIONS ?=
CA_EXTRA ?=
MANIFESTS_OUT ?= $(B)/manifests.yaml
MANIFESTS_WORK ?= $(B)/manifests-static
# The binary these targets run; set it to use a prebuilt one without make rebuilding it.
BMHGUARD_BIN ?= $(B)/bmhguard
# kubectl: $(KUBECTL), which must be 1.$(KUBECTL_MIN_MINOR) or newer (both set in the Makefile).

CEL_JS_VERSION ?= 8.0.0

.PHONY: certs manifests deploy cel-js

certs: $(BMHGUARD_BIN)
	@if [ -e $(CERTS_DIR)/tls.key ] && [ "$(CERTS_FORCE)" != 1 ]; then \
	  echo "certs: $(CERTS_DIR)/ already has a pair (CERTS_FORCE=1 to replace); checking it:"; \
	  $(BMHGUARD_BIN) certs --check $(CERTS_DIR) --service $(CERTS_SERVICE) --namespace $(CERTS_NAMESPACE); \
	else \
	  $(BMHGUARD_BIN) certs --service $(CERTS_SERVICE) --namespace $(CERTS_NAMESPACE) \
	    --out $(CERTS_DIR) --days $(CERTS_DAYS) $(if $(filter 1,$(CERTS_FORCE)),--force) >/dev/null && \
	  $(BMHGUARD_BIN) certs --check $(CERTS_DIR) --service $(CERTS_SERVICE) --namespace $(CERTS_NAMESPACE); \
	fi

# A throw-away kustomization in the build dir: base + the static-ca component + a Secret made
# from certs/ (no name hash, so rotating updates the Secret in place and the server reloads).
# The rendered file holds the private key: it stays in the build dir, mode 0600.
manifests: $(BMHGUARD_BIN)
	@test -s $(CERTS_DIR)/tls.key || { echo "manifests: no pair in $(CERTS_DIR)/ (run: make certs)" >&2; exit 2; }
	@command -v $(KUBECTL) >/dev/null || { echo "manifests: $(KUBECTL) not found; kubectl >= 1.$(KUBECTL_MIN_MINOR) renders manifests/ (README.md, Set up)" >&2; exit 2; }
	@minor=$$(timeout 10 $(KUBECTL) version --client -o json 2>/dev/null | sed -n 's/^ *"minor": *"\([0-9]*\).*/\1/p' | head -n1); \
	  [ "$${minor:-0}" -ge $(KUBECTL_MIN_MINOR) ] || { echo "manifests: $$(command -v $(KUBECTL)) is kubectl 1.$${minor:-?}, too old: kubectl >= 1.$(KUBECTL_MIN_MINOR) (kustomize v5) renders the components and labels in manifests/" >&2; exit 2; }
	@$(BMHGUARD_BIN) certs --check $(CERTS_DIR) --service $(CERTS_SERVICE) --namespace $(CERTS_NAMESPACE) \
	  --min-days 1 >/dev/null || { $(BMHGUARD_BIN) certs --check $(CERTS_DIR) --service $(CERTS_SERVICE) \
	  --namespace $(CERTS_NAMESPACE) --min-days 1; exit 1; }
	@mkdir -m 0700 -p $(MANIFESTS_WORK) && rm -f $(addprefix $(MANIFESTS_WORK)/,kustomization.yaml ca.crt tls.crt tls.key)
	@cp $(CERTS_DIR)/tls.crt $(CERTS_DIR)/tls.key $(MANIFESTS_WORK)/
	@cat $(CERTS_DIR)/ca.crt $(CA_EXTRA) > $(MANIFESTS_WORK)/ca.crt
	@top=$$(pwd); rel=$$(realpath --relative-to=$(MANIFESTS_WORK) $$top/manifests); { \
	  echo "apiVersion: kustomize.config.k8s.io/v1beta1"; \
	  echo "kind: Kustomization"; \
	  echo "resources: [$$rel/base]"; \
	  echo "components:"; \
	  echo "- $$rel/components/static-ca"; \
	  if [ "$(MATCH_CONDITIONS)" = 1 ]; then echo "- $$rel/components/match-conditions"; fi; \
	  echo "secretGenerator:"; \
	  echo "- {name: bmhguard-tls, namespace: $(CERTS_NAMESPACE), type: kubernetes.io/tls, files: [tls.crt, tls.key, ca.crt]}"; \
	  echo "generatorOptions: {disableNameSuffixHash: true}"; \
	  if [ -n "$(IMAGE)" ]; then \
	    img="$(IMAGE)"; name=$${img%:*}; tag=$${img##*:}; \
	    [ "$$name" = "$$img" ] && tag=latest; \
	    echo "images: [{name: localhost/bmhguard, newName: $$name, newTag: $$tag}]"; \
	  fi; \
	} > $(MANIFESTS_WORK)/kustomization.yaml
	@umask 077 && $(KUBECTL) kustomize $(MANIFESTS_WORK) > $(MANIFESTS_OUT).tmp && mv $(MANIFESTS_OUT).tmp $(MANIFESTS_OUT)
	@echo "manifests: wrote $(MANIFESTS_OUT) (contains tls.key; mode 0600)"
	@echo "manifests: kubectl apply -f $(MANIFESTS_OUT)"

deploy:
	@echo "Install (pick one; each is a single kubectl apply):"
	@echo "  static pair:   make certs manifests && kubectl apply -f $(MANIFESTS_OUT)"
	@echo "  cert-manager:  kubectl apply -k manifests/overlays/cert-manager"
	@echo "  + CEL filter:  kubectl apply -k manifests/overlays/match-conditions   (Kubernetes >= 1.30)"
	@echo "Check:  kubectl -n $(CERTS_NAMESPACE) rollout status deploy/bmhguard"
	@echo "        kubectl -n $(CERTS_NAMESPACE) logs job/bmhguard-repair"
	@if [ "$(APPLY)" = 1 ]; then \
	  test -s $(MANIFESTS_OUT) || $(MAKE) --no-print-directory manifests; \
	  echo "+ kubectl apply -f $(MANIFESTS_OUT)"; kubectl apply -f $(MANIFESTS_OUT); \
	else echo "(make deploy APPLY=1 runs the static-pair command)"; fi

cel-js:
	@command -v npm >/dev/null || { echo "cel-js: npm is needed (apt-get install npm)" >&2; exit 2; }
	@mkdir -p $(B)/cel-js && cd $(B)/cel-js && \
	  npm install --silent --no-audit --no-fund --no-save @marcbachmann/cel-js@$(CEL_JS_VERSION) && \
	  echo "cel-js: @marcbachmann/cel-js@$(CEL_JS_VERSION) in $(B)/cel-js"
