"""User interfaces over the pipeline: the Gradio app, the Jupyter widgets and their shared controls."""
