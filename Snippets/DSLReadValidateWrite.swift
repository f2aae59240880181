// Read a YAML document, validate it, and write its canonical JSON form.
import VampDSL
import VampModel

// snippet.show
let yaml = """
    name: sava:1.0
    kind: blueprint
    gateways:
      9050: sava/webport
    clusters:
      sava:
        services:
          breed:
            name: sava:1.0.0
            deployable: magneticio/sava:1.0.0
            ports:
              webport: 8080/http
          scale:
            cpu: 0.2
            memory: 64MB
            instances: 1
    """
do {
    for document in try DSLReader.read(yaml) {
        let problems = document.validate()          // each names the artifact, field path and line
        problems.forEach { print($0) }
        print(DSLWriter.json(document.artifact))    // the canonical form the API returns
    }
} catch {
    print(error)                                    // a syntax error with its line and column
}
// snippet.hide
