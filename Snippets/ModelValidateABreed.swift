// Build a breed in code, validate it, and parse a route condition.
import VampModel

// snippet.show
let breed = Breed(
    name: "sava:1.0",
    deployable: Deployable(definition: "magneticio/sava:1.0.0"),
    ports: [BreedPort(name: "web", number: 8080, type: .http)]
)
let errors = Validation.validate(.breed(breed))
for error in errors {
    print(error)   // the artifact, the field path and what to do
}

let condition = try ConditionParser.parse("user-agent = android and cookie session has 42")
print(condition)
// snippet.hide
precondition(errors.isEmpty, "a well-formed breed validates")
