"""Stack configuration, read and validated once, before any resource exists.

`load` reads the values the engine passed, keeps those the stack set and raises one ConfigError
naming the stack file, each bad key and what is expected; `model` is PlatformSettings (LocalSettings
or AwsSettings by `environment`) and the rules that depend on the environment; `aws` and
`monitoring` hold the nested models and checks of their areas; `charts` says where a stack gets
its monitoring charts. The program reads settings only through PlatformSettings.

May import components.facts only, besides Pulumi's config API, pydantic and yaml.
"""
