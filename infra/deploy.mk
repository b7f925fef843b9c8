# Deploy targets, included by the main Makefile (`-include infra/deploy.mk`), which
# defines BIN, STAGE and the venv stamp. `make edge` belongs to edge/; infra/deploy.py
# runs it itself (step 6), once the data stack it bakes in exists.
#   make deploy STAGE=dev [REGION=eu-west-1] [CLICK_MODE=first-click]
#               [EVERY_CLICK_TRIGGER=origin-request]   (per-country counts; see edge/README.md)
#               [SHORT_DOMAIN=go.example.com SHORT_DOMAIN_CERT=arn:aws:acm:us-east-1:...]
#               [ROTATE_ORIGIN_SECRET=1]   new Referer secret between CloudFront and S3
#   make deploy-plan STAGE=dev      print the chain, touch nothing
#   make record-resources STAGE=dev write stack outputs into .chalice/config.json
#   make deploy-rehearsal [STAGE=dev REGION=eu-west-1 CLICK_MODE=... EVERY_CLICK_TRIGGER=...]
#                                   the whole deploy chain, twice, against a fresh emulator
#                                   on loopback, then a check of what exists (infra/rehearsal.py)
STACK_ARGS = --stage $(STAGE) $(if $(REGION),--region $(REGION))
DEPLOY_ARGS = $(STACK_ARGS) $(if $(CLICK_MODE),--click-mode $(CLICK_MODE)) \
  $(if $(EVERY_CLICK_TRIGGER),--every-click-trigger $(EVERY_CLICK_TRIGGER)) \
  $(if $(SHORT_DOMAIN),--alias $(SHORT_DOMAIN)) \
  $(if $(SHORT_DOMAIN_CERT),--certificate-arn $(SHORT_DOMAIN_CERT)) \
  $(if $(ROTATE_ORIGIN_SECRET),--rotate-origin-secret)

REHEARSAL_ARGS = --stage $(STAGE) $(if $(REGION),--region $(REGION)) \
  $(if $(CLICK_MODE),--click-mode $(CLICK_MODE)) \
  $(if $(EVERY_CLICK_TRIGGER),--every-click-trigger $(EVERY_CLICK_TRIGGER))

.PHONY: deploy deploy-plan record-resources deploy-rehearsal

deploy: $(STAMP)
	$(BIN)/python -m infra.deploy $(DEPLOY_ARGS)

deploy-plan: $(STAMP)
	$(BIN)/python -m infra.deploy $(DEPLOY_ARGS) --dry-run

record-resources: $(STAMP)
	$(BIN)/python -m infra.record_resources $(STACK_ARGS)

deploy-rehearsal: $(STAMP)
	$(BIN)/python -m infra.rehearsal $(REHEARSAL_ARGS)
