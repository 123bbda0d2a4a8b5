cwlVersion: v1.2
class: Workflow
doc: A workflow whose step is a tool in a sibling folder (run by relative path), as CWL conformance tests do.
inputs:
  name: string
outputs:
  greeting:
    type: File
    outputSource: greet/greeting
steps:
  greet:
    run: tools/greet.cwl
    in:
      name: name
    out: [greeting]
