cwlVersion: v1.2
class: CommandLineTool
doc: Writes a greeting to a file.
baseCommand: [sh, -c]
arguments:
  - 'echo "hello $0 from a sibling tool" > greeting.txt'
  - $(inputs.name)
inputs:
  name: string
outputs:
  greeting:
    type: File
    outputBinding:
      glob: greeting.txt
