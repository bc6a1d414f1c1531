// Evaluates IAM requests against policies with @cloud-copilot/iam-simulate, offline.
//
//   node evaluate.mjs INPUT.json      prints {"results": [...]} as JSON
//   node evaluate.mjs --self-test     checks the evaluator on requests with known answers
//
// INPUT: {"policies": {key: policy document}, "requests": [{"id", "principal", "action",
// "resource", "account", "context": {key: value or [values]}, "identity": [policy keys],
// "resource_policy": policy key or null}]}. Policies are named by key so that a role shared by
// thousands of requests is sent once. Each result: {"id", "decision" ("Allowed",
// "ImplicitlyDenied", "ExplicitlyDenied" or "Error"), "error", "allowed_by" [{"policy",
// "statement"}] (the statements that allowed it: their Sid, else their 1-based index),
// "ignored_context_keys"}.
//
// The check that builds the input and reads the output is tests/iam/check.py; this file knows
// nothing about clawkeeper.

import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { loadPolicy } from '@cloud-copilot/iam-policy'

// A request on the resource "*" for an action that has resource types (ecs:ListTasks without a
// container instance is authorized that way by AWS) means, for AWS, exactly the resource "*":
// only a statement whose Resource matches the string "*" applies. iam-simulate's runSimulation
// instead reads "*" as "any resource" and simulates each resource pattern the policies name,
// which would let `container-instance/<cluster>/*` allow it. Its core engine has AWS's meaning
// for wildcard-only actions; these requests go through it with that flag set. The modules are
// not exported by the package, hence the paths (the version is pinned in package-lock.json).
const simulateEntry = import.meta.resolve('@cloud-copilot/iam-simulate')
const core = await import(new URL('./core_engine/CoreSimulatorEngine.js', simulateEntry))
const { AwsRequestImpl } = await import(new URL('./request/request.js', simulateEntry))
const { RequestContextImpl } = await import(new URL('./requestContext.js', simulateEntry))
const { DiscoveryContextKeyConstraints } = await import(
  new URL('./context_keys/discoveryContextKeyConstraints.js', simulateEntry)
)

function simulation(request, policies) {
  const identityPolicies = request.identity.map((key) => ({ name: key, policy: policies[key] }))
  const sim = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: request.context || {}
    },
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: []
  }
  if (request.resource_policy) {
    sim.resourcePolicy = policies[request.resource_policy]
  }
  return sim
}

/** The statements that allowed a request, from the analysis of iam-simulate. */
function allowedBy(analysis) {
  const out = []
  for (const part of [analysis?.identityAnalysis, analysis?.resourceAnalysis]) {
    for (const s of part?.allowStatements || []) {
      out.push({ policy: s.policyId ?? null, statement: s.explain?.identifier ?? null })
    }
  }
  return out
}

/** AWS's meaning of a request on exactly "*" (see above), after the validation runSimulation makes. */
function literalStar(sim) {
  const request = new AwsRequestImpl(
    sim.request.principal,
    { resource: '*', accountId: sim.request.resource.accountId },
    sim.request.action,
    new RequestContextImpl(sim.request.contextVariables),
    true
  )
  return core.authorize({
    request,
    sessionPolicy: undefined,
    identityPolicies: sim.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: sim.resourcePolicy ? loadPolicy(sim.resourcePolicy) : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
    },
    serviceSettings: { s3: { blockPublicAccess: undefined } }
  })
}

export async function evaluate(request, policies) {
  const base = { id: request.id, allowed_by: [], ignored_context_keys: [] }
  const sim = simulation(request, policies)
  const response = await runSimulation(sim, { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    return { ...base, decision: 'Error', error: JSON.stringify(response.errors) }
  }
  if (response.resultType === 'wildcard') {
    if (request.resource !== '*') {
      return { ...base, decision: 'Error', error: `a resource with a wildcard is not a request: ${request.resource}` }
    }
    const analysis = literalStar(sim)
    return { ...base, decision: analysis.result, allowed_by: allowedBy(analysis) }
  }
  return {
    ...base,
    decision: response.overallResult,
    allowed_by: allowedBy(response.result.analysis),
    ignored_context_keys: response.result.ignoredContextKeys || []
  }
}

async function selfTest() {
  const account = '123456789012'
  const principal = `arn:aws:iam::${account}:role/fn`
  const cluster = `arn:aws:ecs:us-east-1:${account}:cluster/openclaw`
  const doc = (...Statement) => ({ Version: '2012-10-17', Statement })
  const policies = {
    oldListTasks: doc({ Sid: 'Old', Effect: 'Allow', Action: 'ecs:ListTasks', Resource: `arn:aws:ecs:us-east-1:${account}:container-instance/openclaw/*` }),
    newListTasks: doc({ Sid: 'New', Effect: 'Allow', Action: 'ecs:ListTasks', Resource: '*', Condition: { ArnEquals: { 'ecs:cluster': cluster } } }),
    objects: doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/home/snapshots/*' })
  }
  const cases = [
    ['oldListTasks', 'ecs:ListTasks', '*', { 'ecs:cluster': cluster }, 'ImplicitlyDenied'],
    ['newListTasks', 'ecs:ListTasks', '*', { 'ecs:cluster': cluster }, 'Allowed'],
    ['newListTasks', 'ecs:ListTasks', '*', { 'ecs:cluster': `arn:aws:ecs:us-east-1:${account}:cluster/other` }, 'ImplicitlyDenied'],
    ['objects', 's3:GetObject', 'arn:aws:s3:::b/home/snapshots/x.json', {}, 'Allowed'],
    ['objects', 's3:GetObject', 'arn:aws:s3:::b/home/last-check.json', {}, 'ImplicitlyDenied']
  ]
  let failed = 0
  for (const [key, action, resource, context, want] of cases) {
    const got = await evaluate({ id: key, principal, action, resource, account, context, identity: [key] }, policies)
    if (got.decision !== want) {
      failed += 1
      console.error(`self-test: ${action} on ${resource} with ${key}: ${got.decision} (${got.error || ''}), want ${want}`)
    }
  }
  if (failed) process.exit(1)
  console.error(`evaluate.mjs self-test: ${cases.length} requests answered as expected`)
}

async function main() {
  const arg = process.argv[2]
  if (arg === '--self-test') return selfTest()
  if (!arg) {
    console.error('usage: node evaluate.mjs INPUT.json | --self-test')
    process.exit(2)
  }
  const input = JSON.parse(readFileSync(arg, 'utf8'))
  const results = []
  for (const request of input.requests) {
    results.push(await evaluate(request, input.policies))
  }
  process.stdout.write(JSON.stringify({ results }))
}

await main()
