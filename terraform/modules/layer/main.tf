locals {
  manifest = jsondecode(file(replace(var.package_path, "/\\.zip$/", ".json")))
}

resource "aws_lambda_layer_version" "this" {
  layer_name               = var.name
  description              = "tributary shared layer (serialization, AWS clients, tracing) for ${var.architecture}"
  filename                 = var.package_path
  source_code_hash         = filebase64sha256(var.package_path)
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]

  lifecycle {
    precondition {
      condition     = local.manifest.arch == var.architecture
      error_message = "The layer zip was built for ${local.manifest.arch}, not ${var.architecture}: run `make build ARCH=${var.architecture}`."
    }
  }
}
