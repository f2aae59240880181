// Render the HAProxy configuration of one gateway with two weighted routes.
import HAProxyConfigGen
import VampModel

// snippet.show
let gateway = Gateway(
    name: "sava/9050",
    port: GatewayPort(number: 9050),
    routes: [
        Route(path: "sava/sava:1.0/webport", weight: Percentage(90),
              targets: [.instance(name: "sava-1.0-1", host: "127.0.0.1", port: 32768)]),
        Route(path: "sava/sava:1.1/webport", weight: Percentage(10),
              condition: .inline(Condition(definition: "user-agent = firefox")), conditionStrength: Percentage(100),
              targets: [.instance(name: "sava-1.1-1", host: "127.0.0.1", port: 32769)]),
    ]
)
let text = try HAProxyConfigurationGenerator().render([gateway])
print(text)   // frontends, backends, ACLs; everything a user wrote is quoted or refused
// snippet.hide
