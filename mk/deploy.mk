# deploy.mk - certificates and deployment: certs, manifests, deploy.
#
#   make certs       a dev CA + serving pair in certs/ for Service bmhguard in bmhguard-system
#                    (CERTS_FORCE=1 replaces an existing pair; CERTS_DAYS=365)
#   make manifests   render one install to $(B)/manifests.yaml:
#                    VARIANT=static (default: the pair from certs/, caBundle set),
#                    VARIANT=cert-manager or VARIANT=match-conditions (the overlays' content);
#                    IMAGE=REGISTRY/bmhguard:TAG sets every container's image and the version
#                    label (default: manifests/components/release); REPAIR_APPLY=1 lets the repair
#                    CronJob write (default a dry run), MONITORING=1 adds the ServiceMonitor and
#                    PrometheusRule, NETWORK_POLICY=1 the NetworkPolicy; static only:
#                    MATCH_CONDITIONS=1 adds the CEL pre-filter, CA_EXTRA=old-ca.crt also trusts
#                    the previous CA while rotating
#   make deploy      show (APPLY=1: run) the kubectl commands that install it
#   make cel-js      install a CEL evaluator (npm @marcbachmann/cel-js) into $(B)/cel-js so
#                    tests/integration/test_manifests_cel.py can run the match-conditions CEL

CERTS_DIR ?= certs
CERTS_SERVICE ?= bmhguard
CERTS_NAMESPACE ?= bmhguard-system
CERTS_DAYS ?= 365
IMAGE ?=
VARIANT ?= static
MATCH_CONDITIONS ?=
REPAIR_APPLY ?=
MONITORING ?=
NETWORK_POLICY ?=
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

# A throw-away kustomization in the build dir: base + the variant's components + the optional
# ones + components/release (or, with IMAGE=, a copy of it naming that image), last, as in the
# overlays. VARIANT=static adds a Secret made from certs/ (no name hash, so rotating updates the
# Secret in place and the server reloads); that output holds the private key: it stays in the
# build dir, mode 0600.
MANIFESTS_VARIANTS := static cert-manager match-conditions
manifests: $(if $(filter static,$(VARIANT)),$(BMHGUARD_BIN))
	@case " $(MANIFESTS_VARIANTS) " in *" $(VARIANT) "*) ;; *) echo "manifests: VARIANT=$(VARIANT): one of $(MANIFESTS_VARIANTS)" >&2; exit 2;; esac
	@if [ "$(VARIANT)" != static ] && [ -n "$(MATCH_CONDITIONS)$(CA_EXTRA)" ]; then echo "manifests: MATCH_CONDITIONS and CA_EXTRA are for VARIANT=static (VARIANT=match-conditions is cert-manager's)" >&2; exit 2; fi
	@[ "$(VARIANT)" != static ] || test -s $(CERTS_DIR)/tls.key || { echo "manifests: no pair in $(CERTS_DIR)/ (run: make certs)" >&2; exit 2; }
	@command -v $(KUBECTL) >/dev/null || { echo "manifests: $(KUBECTL) not found; kubectl >= 1.$(KUBECTL_MIN_MINOR) renders manifests/ (README.md, Set up)" >&2; exit 2; }
	@minor=$$(timeout 10 $(KUBECTL) version --client -o json 2>/dev/null | sed -n 's/^ *"minor": *"\([0-9]*\).*/\1/p' | head -n1); \
	  [ "$${minor:-0}" -ge $(KUBECTL_MIN_MINOR) ] || { echo "manifests: $$(command -v $(KUBECTL)) is kubectl 1.$${minor:-?}, too old: kubectl >= 1.$(KUBECTL_MIN_MINOR) (kustomize v5) renders the components and labels in manifests/" >&2; exit 2; }
	@[ "$(VARIANT)" != static ] || $(BMHGUARD_BIN) certs --check $(CERTS_DIR) --service $(CERTS_SERVICE) --namespace $(CERTS_NAMESPACE) \
	  --min-days 1 >/dev/null || { $(BMHGUARD_BIN) certs --check $(CERTS_DIR) --service $(CERTS_SERVICE) \
	  --namespace $(CERTS_NAMESPACE) --min-days 1; exit 1; }
	@mkdir -m 0700 -p $(MANIFESTS_WORK) && rm -rf $(addprefix $(MANIFESTS_WORK)/,kustomization.yaml ca.crt tls.crt tls.key release)
	@if [ "$(VARIANT)" = static ]; then cp $(CERTS_DIR)/tls.crt $(CERTS_DIR)/tls.key $(MANIFESTS_WORK)/ && \
	  cat $(CERTS_DIR)/ca.crt $(CA_EXTRA) > $(MANIFESTS_WORK)/ca.crt; fi
	@top=$$(pwd); rel=$$(realpath --relative-to=$(MANIFESTS_WORK) $$top/manifests); release=$$rel/components/release; \
	relfile=manifests/components/release/kustomization.yaml; \
	if [ -n "$(IMAGE)" ]; then \
	  img="$(IMAGE)"; digest=""; case "$$img" in *@*) digest=$${img#*@}; img=$${img%%@*};; esac; \
	  name=$$img; tag=latest; last=$${img##*/}; \
	  case "$$last" in *:*) name=$${img%:*}; tag=$${last##*:};; esac; \
	  version=$$tag; [ -z "$$digest" ] || version=$$(echo "$$digest" | tr ':' '-' | cut -c1-19); \
	  mkdir -p $(MANIFESTS_WORK)/release && \
	  sed -e "s|^  newName: .*|  newName: $$name|" \
	      -e "s|^  newTag: .*|  newTag: \"$$tag\"$${digest:+\n  digest: $$digest}|" \
	      -e "s|^    app.kubernetes.io/version: .*|    app.kubernetes.io/version: \"$$version\"|" \
	      manifests/components/release/kustomization.yaml > $(MANIFESTS_WORK)/release/kustomization.yaml && \
	  release=release; relfile=$(MANIFESTS_WORK)/release/kustomization.yaml; \
	  [ -z "$$digest" ] || sed -i '/^  newTag: /d' $(MANIFESTS_WORK)/release/kustomization.yaml; \
	fi; { \
	  echo "apiVersion: kustomize.config.k8s.io/v1beta1"; \
	  echo "kind: Kustomization"; \
	  echo "resources: [$$rel/base]"; \
	  echo "components:"; \
	  case "$(VARIANT)" in \
	    static) echo "- $$rel/components/static-ca"; \
	            if [ "$(MATCH_CONDITIONS)" = 1 ]; then echo "- $$rel/components/match-conditions"; fi;; \
	    cert-manager) echo "- $$rel/components/cert-manager";; \
	    match-conditions) echo "- $$rel/components/cert-manager"; echo "- $$rel/components/match-conditions";; \
	  esac; \
	  if [ "$(REPAIR_APPLY)" = 1 ]; then echo "- $$rel/components/repair-apply"; fi; \
	  if [ "$(MONITORING)" = 1 ]; then echo "- $$rel/components/monitoring"; fi; \
	  if [ "$(NETWORK_POLICY)" = 1 ]; then echo "- $$rel/components/network-policy"; fi; \
	  echo "- $$release"; \
	  if [ "$(VARIANT)" = static ]; then \
	    echo "secretGenerator:"; \
	    echo "- name: bmhguard-tls"; \
	    echo "  namespace: $(CERTS_NAMESPACE)"; \
	    echo "  type: kubernetes.io/tls"; \
	    echo "  files: [tls.crt, tls.key, ca.crt]"; \
	    echo "  options:"; \
	    echo "    disableNameSuffixHash: true"; \
	    echo "    labels:"; \
	    sed -n 's/^    \(app\.kubernetes\.io\/[a-z-]*: .*\)/      \1/p' $$relfile; \
	    echo "      app.kubernetes.io/component: certificate"; \
	  fi; \
	} > $(MANIFESTS_WORK)/kustomization.yaml
	@umask 077 && $(KUBECTL) kustomize $(MANIFESTS_WORK) > $(MANIFESTS_OUT).tmp && mv $(MANIFESTS_OUT).tmp $(MANIFESTS_OUT)
	@echo "manifests: wrote $(MANIFESTS_OUT) (VARIANT=$(VARIANT)$(if $(filter static,$(VARIANT)),; contains tls.key; mode 0600))"
	@echo "manifests: kubectl apply -f $(MANIFESTS_OUT)"

deploy:
	@echo "Install (pick one; each is a single kubectl apply; IMAGE=REGISTRY/bmhguard:TAG for any of them):"
	@echo "  static pair:   make certs manifests IMAGE=... && kubectl apply -f $(MANIFESTS_OUT)"
	@echo "  cert-manager:  make manifests VARIANT=cert-manager IMAGE=... && kubectl apply -f $(MANIFESTS_OUT)"
	@echo "                 (or kubectl apply -k manifests/overlays/cert-manager, image from components/release)"
	@echo "  + CEL filter:  VARIANT=match-conditions   (Kubernetes >= 1.30)"
	@echo "The repair CronJob is a dry run: preview, then add REPAIR_APPLY=1 (components/repair-apply):"
	@echo "  kubectl -n $(CERTS_NAMESPACE) create job --from=cronjob/bmhguard-repair bmhguard-preview"
	@echo "  kubectl -n $(CERTS_NAMESPACE) logs -f job/bmhguard-preview"
	@echo "Check:  kubectl -n $(CERTS_NAMESPACE) rollout status deploy/bmhguard"
	@if [ "$(APPLY)" = 1 ]; then \
	  test -s $(MANIFESTS_OUT) || $(MAKE) --no-print-directory manifests; \
	  echo "+ kubectl apply -f $(MANIFESTS_OUT)"; kubectl apply -f $(MANIFESTS_OUT); \
	else echo "(make deploy APPLY=1 applies $(MANIFESTS_OUT), rendering the static pair if it is missing)"; fi

cel-js:
	@command -v npm >/dev/null || { echo "cel-js: npm is needed (apt-get install npm)" >&2; exit 2; }
	@mkdir -p $(B)/cel-js && cd $(B)/cel-js && \
	  npm install --silent --no-audit --no-fund --no-save @marcbachmann/cel-js@$(CEL_JS_VERSION) && \
	  echo "cel-js: @marcbachmann/cel-js@$(CEL_JS_VERSION) in $(B)/cel-js"
