"""Customer 360 pipeline: raw customer and order files to business-ready gold tables"""
