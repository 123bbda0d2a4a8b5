cwlVersion: v1.2
class: CommandLineTool
doc: Writes a greeting to a file; exits with the given code (after a line on stderr when not 0).
baseCommand: [sh, -c]
arguments:
  - 'echo "hello $0" > greeting.txt; if [ "$1" != 0 ]; then echo "cannot greet $0" >&2; fi; exit $1'
  - $(inputs.name)
  - $(inputs.code)
inputs:
  name: string
  code:
    type: int
    default: 0
outputs:
  greeting:
    type: File
    outputBinding:
      glob: greeting.txt
