"""offside's benchmarks, one folder each (installed as `offside_benchmarks.<name>`).

A benchmark folder holds everything that knows the benchmark by name: its release reader and
offline fixture, its `Benchmark` registration (an `offside.benchmarks` entry point), its task
YAMLs (`Benchmark.tasks_dir`), its `offside run` planner, report sections and shipped
experiments (a `RunProfile`, an `offside.run_profiles` entry point). The core packages
(offside_data, offside_eval, offside_train, offside_run) name none of them; a third-party
package ships a benchmark the same way.
"""
