from scaffolder.cli import app

app(prog_name="scaffold")
