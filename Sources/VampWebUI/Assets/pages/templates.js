// What a new artifact's editor starts with, per kind (Documentation/dsl.md has every field).

export const TEMPLATES = {
  breeds: `name: my-service:1.0
deployable:
  type: command
  definition: sava --text "hello"
ports:
  web: 8080/http
`,
  blueprints: `name: my-blueprint
gateways:
  9060/http: web/web
clusters:
  web:
    services:
      - breed: my-service:1.0
        scale: {cpu: 0.1, memory: 64MB, instances: 1}
`,
  gateways: `name: my-gateway
port: 9070/http
routes:
  sava/web/web:
    weight: 100%
`,
  workflows: `name: my-workflow
breed:
  name: my-job
  deployable: {type: command, definition: "sh -c 'echo hello'"}
schedule:
  time: {period: PT1M}
`,
  scales: `name: small
cpu: 0.2
memory: 128MB
instances: 1
`,
  conditions: `name: beta-testers
condition: has cookie beta
`,
  slas: `name: response-time
type: response_time_sliding_window
threshold: {upper: 1000, lower: 100}
window: {interval: 60, cooldown: 60}
escalations:
  - type: scale_instances
    minimum: 1
    maximum: 3
    scale_by: 1
`,
  escalations: `name: more-instances
type: scale_instances
minimum: 1
maximum: 3
scale_by: 1
`,
  routes: `name: canary
weight: 10%
`,
  rewrites: `name: strip-api
path: /api/(.*) => /$1
`,
  templates: `name: my-template
kind: breed
`,
  releases: `name: sava-1.1
deployment: sava
cluster: web
port: web
baseline: sava:1.0
canary: sava:1.1
steps: [5%, 25%, 50%, 100%]
step: {minimum_duration: 30s, minimum_requests: 200}
checks:
  error_rate: {max_increase: 1%}
  response_time: {percentile: 99, max_ratio: 1.2}
false_rollback_probability: 1%
insufficient_data: {after: 10m, then: fail}
on_success: {remove_baseline: false}
`,
};
