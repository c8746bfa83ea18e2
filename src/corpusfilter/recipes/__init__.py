"""Built-in pipeline recipes (YAML files named by `corpusfilter run RECIPE`)."""
