import VampModel

extension HAProxyConfigurationGenerator {
    /// The shared `frontend virtual_hosts`: one frontend on the virtual-hosts port that sends a request by its `Host`
    /// to the gateway that lists the host, through that gateway's own frontend. It binds the internal address (by
    /// default loopback); each backend connects to the address its gateway's frontend binds.
    func renderVirtualHosts(_ gateways: [Gateway]) -> String {
        var out = "\n# virtual hosts\nfrontend virtual_hosts\n"
        out += "  bind \(BindAddress.endpoint(options.internalBindAddress, port: options.virtualHostsPort))\n"
        out += "  mode http\n"
        out += logLines(http: true)
        for gateway in gateways {
            for host in gateway.virtualHosts {
                let acl = ACL(definition: "req.hdr(host),field(1,:) -m str -i \(HAProxyText.quoted(host))")
                out += "  acl \(acl.id) \(acl.definition)\n"
                out += "  use_backend vh_\(gateway.lookupName) if \(acl.id)\n"
            }
        }
        for gateway in gateways {
            let address = BindAddress.reachable(options.bindAddress(of: gateway))
            out += "\nbackend vh_\(gateway.lookupName)\n"
            out += "  mode http\n"
            out += "  option forwardfor\n"
            out += "  http-request set-header X-Forwarded-Port %[dst_port]\n"
            out += "  server \(gateway.lookupName) \(BindAddress.endpoint(address, port: gateway.port.number))\(Self.virtualHostServerOptions(of: gateway))\n"
        }
        return out
    }
}
