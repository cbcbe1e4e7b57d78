#!/usr/bin/env bash
# The update plan the merged pull request's preview saved for $STACK, and the digest its summary
# comment printed (README, "Plan binding"): writes `plan=` and `digest=` to $GITHUB_OUTPUT, or
# fails saying why there is no approved plan to deploy. Needs GH_TOKEN with actions:read and
# pull-requests:read. The deploy then runs `make up PLAN=... PLAN_DIGEST=...`, which applies that
# plan or nothing. A fleet ($STACK with a stacks file, stacks/$STACK.yaml): the artifact holds
# every previewed stack's plan and their manifest, and the digest is the fleet digest its comment
# printed (**Fleet plan**), which binds them all; the stacks' own **Update plan** lines in that
# comment are not it.
set -euo pipefail
: "${STACK:?}" "${GITHUB_REPOSITORY:?}" "${GITHUB_SHA:?}" "${GITHUB_OUTPUT:?}"

fail() { echo "::error::$*"; exit 1; }

pr=$(gh api "repos/$GITHUB_REPOSITORY/commits/$GITHUB_SHA/pulls" --jq '.[0].number // empty')
[ -n "$pr" ] || fail "$GITHUB_SHA was not merged from a pull request: there is no approved preview of $STACK to deploy"
head=$(gh api "repos/$GITHUB_REPOSITORY/pulls/$pr" --jq '.head.sha')
# The preview run of the head commit reviewers approved; the workflow fails when a preview does.
run=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow preview.yml --commit "$head" \
  --status success --limit 1 --json databaseId --jq '.[0].databaseId // empty')
[ -n "$run" ] || fail "no successful preview run of pull request #$pr at its head $head"
mkdir -p build/approved
gh run download "$run" --repo "$GITHUB_REPOSITORY" --name "plan-$STACK" --dir build/approved \
  || fail "preview run $run of #$pr kept no plan-$STACK artifact (expired? re-run the preview)"
# The digest reviewers read: the summary comment of $STACK, edited in place on every push.
marker="<!-- gpu-model-platform preview: $STACK -->"
kind='Update plan'
if [ -f "stacks/$STACK.yaml" ]; then kind='Fleet plan'; fi
digest=$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$pr/comments" \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .body" \
  | grep -o "$kind"'\*\* `sha256:[0-9a-f]\{64\}`' | grep -o 'sha256:[0-9a-f]\{64\}' | tail -n 1) \
  || fail "the summary comment of $STACK on #$pr names no ${kind,,} (a failed preview, or a change that cannot be bound)"
echo "plan=build/approved/plan-$STACK.json" >> "$GITHUB_OUTPUT"
echo "digest=$digest" >> "$GITHUB_OUTPUT"
echo "approved plan of $STACK: pull request #$pr, head $head, preview run $run, $digest"
