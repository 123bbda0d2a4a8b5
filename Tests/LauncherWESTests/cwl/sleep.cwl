cwlVersion: v1.2
class: CommandLineTool
doc: Sleeps for the given number of seconds.
baseCommand: sleep
arguments: [$(inputs.seconds)]
inputs:
  seconds: int
outputs: []
